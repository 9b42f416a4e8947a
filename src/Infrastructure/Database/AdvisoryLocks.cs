namespace Holdfast.Infrastructure.Database;

/// <summary>
/// Every PostgreSQL advisory lock Holdfast takes, in one place so two features never pick the same key.
/// Keys are 64-bit: <c>hashtextextended(name, 0)</c> of a namespaced text, so callers in SQL and in C#
/// agree without a shared counter. Collisions only ever cost extra waiting, never correctness.
/// </summary>
public static class AdvisoryLocks
{
    /// <summary>
    /// Session-level lock held while migrations run, so concurrent app nodes apply each script once.
    /// SQL: <c>pg_advisory_lock(hashtextextended('holdfast:migrations', 0))</c>.
    /// </summary>
    public const string MigrationsKeyText = "holdfast:migrations";

    /// <summary>
    /// Transaction-level lock per (show, customer) taken at the start of a hold, so the per-customer
    /// seat limit is checked and used atomically. SQL:
    /// <c>pg_advisory_xact_lock(hashtextextended('hold-limit:' || show_id || ':' || app_user_id, 0))</c>.
    /// </summary>
    public const string HoldLimitKeyPrefix = "hold-limit:";
}
