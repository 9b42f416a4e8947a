using Cronos;

namespace Holdfast.Infrastructure.Jobs;

/// <summary>
/// A recurring schedule in UTC (docs/decisions/0014-cronos.md), one of:
/// <list type="bullet">
/// <item>five-field cron, <c>minute hour day-of-month month day-of-week</c>, read by Cronos
/// (https://github.com/HangfireIO/Cronos): <c>*</c>, numbers, ranges <c>a-b</c> (a reversed range wraps,
/// <c>22-2</c> is 22,23,0,1,2), lists, steps <c>*/n</c>, names (<c>JAN</c>, <c>MON</c>), day-of-week 0–7
/// (0 and 7 are Sunday), <c>L</c>, <c>W</c>, <c>#</c>, <c>?</c>, and the macros <c>@yearly</c>,
/// <c>@annually</c>, <c>@monthly</c>, <c>@weekly</c>, <c>@daily</c>, <c>@midnight</c>, <c>@hourly</c>,
/// <c>@every_minute</c>. No seconds field, no <c>@every_second</c>, no <c>H</c> (jitter: nodes would
/// disagree on the slots). When both day fields are restricted (neither starts with <c>*</c> or
/// <c>?</c>), a day matches if either does, as in Vixie cron and crontab(5); Cronos alone would require both.</item>
/// <item><c>@every 30s</c> / <c>@every 5m</c> / <c>@every 1h</c>: an interval with slots aligned to the
/// Unix epoch. Ours: Cronos has no intervals.</item>
/// </list>
/// </summary>
public sealed class Cron
{
    private const string EveryPrefix = "@every ";
    private readonly TimeSpan? every;
    private readonly CronExpression[] expressions = [];

    private Cron(string text)
    {
        Text = text;
        if (text.StartsWith(EveryPrefix, StringComparison.Ordinal))
        {
            every = ParseInterval(text);
            return;
        }

        expressions = ParseCron(text);
        if (NextOccurrence(DateTime.UnixEpoch) is null)
        {
            throw new FormatException($"'{text}': this schedule never fires (no such date).");
        }
    }

    /// <summary>The schedule as written (trimmed).</summary>
    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">Not a schedule this class understands; the message names the schedule and the fault.</exception>
    public static Cron Parse(string text) => new(text.Trim());

    /// <summary>The first slot strictly after <paramref name="after"/> (UTC), at whole seconds (cron: whole minutes).</summary>
    /// <exception cref="InvalidOperationException">No slot before the end of <see cref="DateTime"/> (year 9999).</exception>
    public DateTimeOffset Next(DateTimeOffset after)
    {
        if (every is { } interval)
        {
            var ticks = after.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            var slot = ((ticks / interval.Ticks) + 1) * interval.Ticks;
            return DateTimeOffset.UnixEpoch.AddTicks(slot);
        }

        return NextOccurrence(after.UtcDateTime) is { } next
            ? new DateTimeOffset(next, TimeSpan.Zero)
            : throw new InvalidOperationException($"'{Text}' has no slot after {after:O}.");
    }

    /// <summary>The earliest occurrence of any expression strictly after <paramref name="fromUtc"/> (Vixie's either-day rule).</summary>
    private DateTime? NextOccurrence(DateTime fromUtc) =>
        expressions.Select(e => e.GetNextOccurrence(fromUtc, inclusive: false)).Min();

    private static TimeSpan ParseInterval(string text)
    {
        var value = text[EveryPrefix.Length..].Trim();
        if (value.Length < 2 || !int.TryParse(value[..^1], out var n) || n <= 0)
        {
            throw new FormatException($"'{text}': expected @every <n>s|m|h.");
        }

        return value[^1] switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            _ => throw new FormatException($"'{text}': the unit is s, m or h."),
        };
    }

    /// <summary>
    /// One Cronos expression, or two when both day fields are restricted: one with day-of-week set to
    /// <c>*</c> and one with day-of-month set to <c>*</c>, whose union is Vixie's either-day rule.
    /// </summary>
    private static CronExpression[] ParseCron(string text)
    {
        if (text.StartsWith('@'))
        {
            return [Expression(text, text)];
        }

        var fields = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            throw new FormatException($"'{text}': a cron schedule has five fields (minute hour day-of-month month day-of-week), not {fields.Length}; no seconds field.");
        }

        static bool Restricted(string field) => !field.StartsWith('*') && !field.StartsWith('?');
        return Restricted(fields[2]) && Restricted(fields[4])
            ? [Expression(text, string.Join(' ', fields[..4]) + " *"), Expression(text, string.Join(' ', [.. fields[..2], "*", fields[3], fields[4]]))]
            : [Expression(text, string.Join(' ', fields))];
    }

    private static CronExpression Expression(string text, string expression)
    {
        CronExpression parsed;
        try
        {
            parsed = CronExpression.Parse(expression, CronFormat.Standard);
        }
        catch (CronFormatException ex)
        {
            throw new FormatException($"'{text}': {ex.Message}", ex);
        }
        catch (MissingSeedException ex)
        {
            throw new FormatException($"'{text}': H (jitter) is not supported; every node must compute the same slots.", ex);
        }

        // Cronos's @every_second macro is six-field even in the standard format.
        return parsed == CronExpression.EverySecond
            ? throw new FormatException($"'{text}': no seconds field in a cron schedule; write @every 1s.")
            : parsed;
    }
}
