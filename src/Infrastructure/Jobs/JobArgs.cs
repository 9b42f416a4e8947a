using System.Reflection;
using System.Text.Json;

namespace Holdfast.Infrastructure.Jobs;

/// <summary>How the jobs of one kind are inserted (riverqueue/river's <c>InsertOpts</c>).</summary>
/// <param name="Queue">The queue, e.g. <c>default</c> or <c>holds</c>.</param>
/// <param name="Priority">1 (first) to 4.</param>
/// <param name="MaxAttempts">Attempts before the job is discarded.</param>
public sealed record JobInsertOptions(string Queue = "default", short Priority = 2, int MaxAttempts = 20)
{
    /// <summary>Queue <c>default</c>, priority 2, 20 attempts.</summary>
    public static readonly JobInsertOptions Default = new();
}

/// <summary>
/// The typed arguments of one job kind, as riverqueue/river's <c>JobArgs</c>: the record's
/// properties are the job's payload (snake_case jsonb), and the record names its kind, its insert
/// options and its unique key. A kind is written as text only in its args record: a feature's in
/// <c>src/Features/Jobs</c> (one file per kind), the engine's own in <c>JobKinds.cs</c> here; the
/// handler stays in the slice that owns the work. Everybody else enqueues, cancels or finds such
/// jobs through the record
/// (<see cref="JobOutbox.EnqueueAsync{TArgs}"/> from C#, <see cref="JobSql"/> from SQL).
/// </summary>
public interface IJobArgs
{
    /// <summary>The <c>job.kind</c>, e.g. <c>hold.expire</c>.</summary>
    static abstract string Kind { get; }

    /// <summary>Queue, priority and attempts for this kind.</summary>
    static virtual JobInsertOptions Options => JobInsertOptions.Default;

    /// <summary>
    /// The unique key as a SQL expression over the payload's fields in the row alias <c>a</c>
    /// (e.g. <c>'hold:' || a.hold_id</c>), or null when jobs of this kind are not deduplicated. It
    /// must give what <see cref="UniqueKey"/> gives for the same values.
    /// </summary>
    static virtual string? UniqueKeySql => null;

    /// <summary>At most one live job of this kind has this key; null for none.</summary>
    string? UniqueKey() => null;
}

/// <summary>Reads and writes job payloads for <see cref="IJobArgs"/> records.</summary>
public static class JobArgs
{
    /// <summary>
    /// Payload JSON: snake_case, nulls left out, and strict on reading: a missing constructor
    /// parameter without a default, or a null for a non-nullable one, is an error, so a malformed
    /// payload fails once, when it is read.
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// <paramref name="payload"/> as <typeparamref name="TArgs"/>. An absent payload (a handler called
    /// directly by a test) reads as <c>{}</c>.
    /// </summary>
    /// <exception cref="PermanentJobException">The payload is not a <typeparamref name="TArgs"/>: a key is missing or has the wrong type.</exception>
    public static TArgs Read<TArgs>(JsonElement payload) where TArgs : IJobArgs
    {
        try
        {
            var args = payload.ValueKind == JsonValueKind.Undefined
                ? JsonSerializer.Deserialize<TArgs>("{}", Json)
                : payload.Deserialize<TArgs>(Json);
            return args ?? throw new JsonException("The payload is null.");
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            throw new PermanentJobException($"Malformed {TArgs.Kind} payload, discarded: {ex.Message}", ex);
        }
    }

    /// <summary>The payload's field names (snake_case), in the record's property order.</summary>
    public static IReadOnlyList<string> Fields<TArgs>() where TArgs : IJobArgs => FieldCache<TArgs>.Names;

    /// <summary>The SQL type a payload field is read back as (<c>bigint</c>, <c>int</c>, <c>text</c>, …).</summary>
    internal static string SqlType<TArgs>(string field) where TArgs : IJobArgs =>
        FieldCache<TArgs>.Types.TryGetValue(field, out var type) ? type
            : throw new ArgumentException($"{typeof(TArgs).Name} has no payload field '{field}'.", nameof(field));

    private static class FieldCache<TArgs> where TArgs : IJobArgs
    {
        private static readonly PropertyInfo[] Properties =
            [.. typeof(TArgs).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is not null && p.Name != "EqualityContract")];

        public static readonly string[] Names = [.. Properties.Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))];

        public static readonly Dictionary<string, string> Types = Properties.ToDictionary(
            p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name),
            p => (Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType) switch
            {
                var t when t == typeof(long) => "bigint",
                var t when t == typeof(int) => "int",
                var t when t == typeof(short) => "smallint",
                var t when t == typeof(bool) => "boolean",
                var t when t == typeof(DateTimeOffset) => "timestamptz",
                _ => "text",
            },
            StringComparer.Ordinal);
    }
}

/// <summary>
/// A handler of one typed kind. The engine reads the payload into <typeparamref name="TArgs"/> once,
/// before the handler runs; a payload that does not read (a missing key, a wrong type) discards the
/// job at once with the error kept, instead of failing the same way on every retry.
/// </summary>
/// <typeparam name="TArgs">The kind's args record.</typeparam>
public abstract class JobHandler<TArgs> : IJobHandler where TArgs : class, IJobArgs
{
    /// <inheritdoc />
    public string Kind => TArgs.Kind;

    /// <inheritdoc />
    public object ReadArgs(JsonElement payload) => JobArgs.Read<TArgs>(payload);

    /// <inheritdoc />
    public Task HandleAsync(JobContext job, CancellationToken cancellationToken) =>
        HandleAsync(job, job.Args as TArgs ?? JobArgs.Read<TArgs>(job.Payload), cancellationToken);

    /// <summary>Does the work. Throwing marks the attempt failed and schedules a retry with backoff.</summary>
    public abstract Task HandleAsync(JobContext job, TArgs args, CancellationToken cancellationToken);
}

/// <summary>
/// SQL for set-based work on typed jobs, for slices that insert or cancel jobs inside their own
/// statements (one round trip, the outbox in the same transaction). The kind, queue, priority,
/// attempts, payload keys and unique key come from the args record, never from the slice's SQL.
/// Each call builds the same text every time, so the statement it is part of is prepared once
/// (decision 0008); build it into a <c>static readonly</c> field.
/// </summary>
public static class JobSql
{
    /// <summary>The states of a job that has not run to an end: what a cancellation may still stop.</summary>
    public const string Waiting = "state in ('available', 'retryable')";

    /// <summary>
    /// <c>insert into job … select … from (<paramref name="rows"/>) a</c>: one job of
    /// <typeparamref name="TArgs"/> per row. <paramref name="rows"/> is a query whose columns are the
    /// payload's fields by name (e.g. <c>hold_id</c>), plus <c>run_at</c> and <c>created_at</c>;
    /// when <paramref name="given"/> names some fields, only those come from the rows and the others
    /// are null. A live job with the same unique key is skipped, unless
    /// <paramref name="skipDuplicates"/> is false: then it is an error (a new hold's expiry cannot
    /// have one, and the hold path saves the speculative insertion). Usable as a data-modifying CTE.
    /// </summary>
    /// <exception cref="ArgumentException">A name in <paramref name="given"/> is not a payload field.</exception>
    public static string Insert<TArgs>(string rows, bool skipDuplicates = true, params string[] given) where TArgs : IJobArgs
    {
        var options = TArgs.Options;
        var fields = JobArgs.Fields<TArgs>();
        foreach (var field in given.Where(f => !fields.Contains(f)))
        {
            throw new ArgumentException($"{typeof(TArgs).Name} has no payload field '{field}'.", nameof(given));
        }

        var source = given.Length == 0
            ? rows
            : "select " + string.Join(", ", fields.Select(f => given.Contains(f) ? $"r.{f}" : $"null::{JobArgs.SqlType<TArgs>(f)} as {f}"))
              + $", r.run_at, r.created_at from ({rows}) r";
        return $"""
            insert into job (kind, queue, priority, payload, run_at, unique_key, max_attempts, created_at)
            select '{TArgs.Kind}', '{options.Queue}', {options.Priority}, {Payload<TArgs>()}, a.run_at, {TArgs.UniqueKeySql ?? "null"}, {options.MaxAttempts}, a.created_at
            from ({source}) a
            """ + (skipDuplicates ? "\n" + OnLiveDuplicateSkip : "");
    }

    // The payload of a TArgs job from row a's columns named after its fields (snake_case jsonb, nulls left out).
    private static string Payload<TArgs>() where TArgs : IJobArgs =>
        "jsonb_strip_nulls(jsonb_build_object(" + string.Join(", ", JobArgs.Fields<TArgs>().Select(f => $"'{f}', a.{f}")) + "))";

    /// <summary>The clause that skips an insert whose unique key a live job of its kind already has.</summary>
    public const string OnLiveDuplicateSkip =
        "on conflict (kind, unique_key) where unique_key is not null and state in ('available', 'running', 'retryable') do nothing";

    /// <summary>
    /// <c>update job set state = 'cancelled' …</c> for the waiting jobs of <typeparamref name="TArgs"/>
    /// whose unique key is that of a row of <paramref name="rows"/> (a query with the payload's key
    /// fields by name). <paramref name="now"/> is the SQL for the instant (e.g. <c>@now</c>).
    /// </summary>
    public static string CancelByKey<TArgs>(string rows, string now = "@now") where TArgs : IJobArgs =>
        $"""
        update job set state = 'cancelled', finalized_at = {now}
        from ({rows}) a
        where job.kind = '{TArgs.Kind}' and job.unique_key = {TArgs.UniqueKeySql ?? throw new InvalidOperationException($"{typeof(TArgs).Name} has no unique key.")}
          and job.{Waiting}
        """;

    /// <summary>
    /// <c>update job … returning …</c> that turns the waiting <typeparamref name="TFrom"/> job of each
    /// row of <paramref name="rows"/> into a <typeparamref name="TTo"/> job, in place: its kind, queue,
    /// priority, payload, unique key and attempts become those of a new <typeparamref name="TTo"/>
    /// job due at <c>run_at</c>. One row written instead of a cancelled row plus a new one, where a
    /// job hands its duty over to another (a hold's expiry becoming its checkout's payment deadline).
    /// <paramref name="rows"/> is a query with <typeparamref name="TFrom"/>'s key fields,
    /// <typeparamref name="TTo"/>'s payload fields and <c>run_at</c>, by name. It returns the
    /// replaced jobs' <c>job_id</c> with their row of <paramref name="rows"/>; a row whose <typeparamref name="TFrom"/> job is not waiting (it is
    /// running, or gone) replaces nothing, and the caller inserts a <typeparamref name="TTo"/> for it.
    /// </summary>
    /// <exception cref="InvalidOperationException">Either kind has no unique key.</exception>
    public static string Replace<TFrom, TTo>(string rows) where TFrom : IJobArgs where TTo : IJobArgs
    {
        var options = TTo.Options;
        return $"""
            update job
            set kind = '{TTo.Kind}', queue = '{options.Queue}', priority = {options.Priority}, payload = {Payload<TTo>()}, run_at = a.run_at,
                unique_key = {TTo.UniqueKeySql ?? throw new InvalidOperationException($"{typeof(TTo).Name} has no unique key.")},
                max_attempts = {options.MaxAttempts}, attempt = 0, errors = '[]'
            from ({rows}) a
            where job.kind = '{TFrom.Kind}' and job.unique_key = {TFrom.UniqueKeySql ?? throw new InvalidOperationException($"{typeof(TFrom).Name} has no unique key.")}
              and job.{Waiting}
            returning job.job_id, a.*
            """;
    }

    /// <summary><c>job.kind = '…'</c> for <typeparamref name="TArgs"/>'s kind.</summary>
    public static string IsKind<TArgs>() where TArgs : IJobArgs => $"job.kind = '{TArgs.Kind}'";

    /// <summary>A payload field of a <typeparamref name="TArgs"/> job, typed: e.g. <c>(job.payload->>'show_id')::bigint</c>.</summary>
    /// <param name="property">The record property (<c>nameof(ReminderArgs.ShowId)</c>).</param>
    public static string Field<TArgs>(string property) where TArgs : IJobArgs
    {
        var field = JsonNamingPolicy.SnakeCaseLower.ConvertName(property);
        return $"(job.payload->>'{field}')::{JobArgs.SqlType<TArgs>(field)}";
    }
}
