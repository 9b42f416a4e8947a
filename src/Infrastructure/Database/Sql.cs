using Holdfast.Infrastructure.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using NpgsqlTypes;

namespace Holdfast.Infrastructure.Database;

/// <summary>
/// The one thin style every slice talks to PostgreSQL in (decision 0018): plain Npgsql commands
/// with their SQL at the bottom of the slice, parameters typed and named once
/// (<c>command.With("hold_id", holdId)</c>, an <see cref="NpgsqlParameter{T}"/>, so no boxing and
/// the type is fixed for prepared statements), rows read by column name
/// (<c>reader.Get&lt;long&gt;("hold_id")</c>), and violated constraints mapped to problems by
/// <see cref="ProblemFor"/>.
/// </summary>
public static class Sql
{
    /// <summary>
    /// <c>set local plan_cache_mode = force_generic_plan</c>, sent in a transaction before prepared
    /// statements that PostgreSQL would otherwise plan again on every call; it lasts to the end of
    /// the transaction, so every later statement of it runs its generic plan too. PostgreSQL
    /// chooses a custom plan whenever one looks cheaper for the values given than the generic
    /// plan, and for some statements (a limit or arrays as parameters, a data-modifying CTE of many
    /// parts) it always does, though both are the same index paths: planning then costs more than
    /// running. Only for transactions whose statements filter on keys
    /// (docs/decisions/0008-hot-paths.md).
    /// </summary>
    public const string GenericPlansSql = "set local plan_cache_mode = force_generic_plan";

    /// <summary>
    /// An <c>ILIKE</c> pattern matching <paramref name="text"/> anywhere, with the user's <c>%</c>,
    /// <c>_</c> and <c>\</c> taken literally; null for null.
    /// </summary>
    public static string? ContainsPattern(string? text) =>
        text is null ? null
            : "%" + text.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal) + "%";

    /// <summary>Adds the typed parameter <c>@<paramref name="name"/></c> and returns the command.</summary>
    public static NpgsqlCommand With<T>(this NpgsqlCommand command, string name, T value)
    {
        command.Parameters.Add(new NpgsqlParameter<T>(name, value));
        return command;
    }

    /// <summary>
    /// Adds <c>@<paramref name="name"/></c> sent as <paramref name="type"/> rather than the type
    /// <typeparamref name="T"/> maps to: for a JSON document held as a string that a <c>jsonb</c>
    /// column or function takes (<c>NpgsqlDbType.Jsonb</c>), where text would be refused.
    /// </summary>
    public static NpgsqlCommand With<T>(this NpgsqlCommand command, string name, T value, NpgsqlDbType type)
    {
        command.Parameters.Add(new NpgsqlParameter<T>(name, type) { TypedValue = value });
        return command;
    }

    /// <summary>Adds the typed parameter <c>@<paramref name="name"/></c> and returns the batch command.</summary>
    public static NpgsqlBatchCommand With<T>(this NpgsqlBatchCommand command, string name, T value)
    {
        command.Parameters.Add(new NpgsqlParameter<T>(name, value));
        return command;
    }

    /// <summary>Adds the typed parameter <c>@<paramref name="name"/></c> and returns the collection.</summary>
    public static NpgsqlParameterCollection With<T>(this NpgsqlParameterCollection parameters, string name, T value)
    {
        parameters.Add(new NpgsqlParameter<T>(name, value));
        return parameters;
    }

    /// <summary>
    /// The value of <paramref name="column"/> in the current row. SQL NULL reads as <c>null</c> when
    /// <typeparamref name="T"/> can hold it (<c>string?</c>, <c>long?</c>); otherwise it throws, as
    /// <see cref="NpgsqlDataReader.GetFieldValue{T}(int)"/> does.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException">No column has that name.</exception>
    public static T Get<T>(this NpgsqlDataReader reader, string column)
    {
        var ordinal = reader.GetOrdinal(column);
        return default(T) is null && reader.IsDBNull(ordinal) ? default! : reader.GetFieldValue<T>(ordinal);
    }

    /// <summary>
    /// The problem a client should see for the constraint <paramref name="exception"/> violated, from
    /// the rules the slice gives, or <c>null</c> when none names it (the error then propagates).
    /// Use in an exception filter:
    /// <c>catch (PostgresException ex) when (ex.ProblemFor(new OnConstraint("event_code_uq", () =&gt; …)) is { } problem)</c>
    /// (name the type: a lone target-typed <c>new(…)</c> would bind to the span itself).
    /// </summary>
    public static ProblemHttpResult? ProblemFor(this PostgresException exception, params ReadOnlySpan<OnConstraint> rules)
    {
        foreach (var rule in rules)
        {
            if (string.Equals(exception.ConstraintName, rule.Constraint, StringComparison.Ordinal))
            {
                return rule.Problem();
            }
        }

        return null;
    }
}

/// <summary>
/// One rule for <see cref="Sql.ProblemFor"/>: when <paramref name="Constraint"/> (its name in
/// <c>db/migrations</c>) is violated, answer <paramref name="Problem"/> (e.g.
/// <see cref="Problems.Conflict"/> for a unique key taken, <see cref="Problems.Field"/> for a
/// foreign key a field names).
/// </summary>
public readonly record struct OnConstraint(string Constraint, Func<ProblemHttpResult> Problem);
