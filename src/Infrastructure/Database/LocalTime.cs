namespace Holdfast.Infrastructure.Database;

/// <summary>
/// Local wall-clock times come from PostgreSQL's tz database (<c>starts_at AT TIME ZONE time_zone</c>),
/// so the app and the database can never disagree on a zone's rules.
/// </summary>
public static class LocalTime
{
    /// <summary>
    /// Combines an instant and its local wall-clock reading into a <see cref="DateTimeOffset"/> carrying
    /// the zone's offset at that instant, e.g. <c>2026-12-01T21:30:00-05:00</c>.
    /// </summary>
    /// <param name="utc">The instant, as read from a <c>timestamptz</c> column (Kind Utc).</param>
    /// <param name="local">The same instant's <c>AT TIME ZONE</c> reading (a <c>timestamp</c> column).</param>
    public static DateTimeOffset WithOffset(DateTime utc, DateTime local) =>
        new(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), local - DateTime.SpecifyKind(utc, DateTimeKind.Unspecified));
}
