namespace Holdfast.Infrastructure.Jobs;

/// <summary>
/// A recurring schedule in UTC: five-field cron (<c>minute hour day-of-month month day-of-week</c>,
/// each <c>*</c>, a number, a range <c>a-b</c>, a list <c>a,b</c>, or a step <c>*/n</c> or <c>a-b/n</c>;
/// day-of-week 0–6 from Sunday), or <c>@every 30s</c> / <c>@every 5m</c> / <c>@every 1h</c> (slots
/// aligned to the Unix epoch). No cron library restores here (docs/decisions/0006-cron.md).
/// When both day fields are restricted, a day matches if either does, as in Vixie cron.
/// </summary>
public sealed class Cron
{
    private readonly TimeSpan? every;
    private readonly bool[] minutes = new bool[60];
    private readonly bool[] hours = new bool[24];
    private readonly bool[] days = new bool[32];
    private readonly bool[] months = new bool[13];
    private readonly bool[] weekdays = new bool[7];
    private readonly bool anyDay;
    private readonly bool anyWeekday;

    private Cron(string text)
    {
        Text = text;
        if (text.StartsWith("@every ", StringComparison.Ordinal))
        {
            var value = text[7..].Trim();
            var unit = value[^1];
            if (!int.TryParse(value[..^1], out var n) || n <= 0)
            {
                throw new FormatException($"'{text}': expected @every <n>s|m|h.");
            }

            every = unit switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => throw new FormatException($"'{text}': the unit is s, m or h."),
            };
            return;
        }

        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            throw new FormatException($"'{text}': a cron schedule has five fields.");
        }

        Fill(minutes, fields[0], 0, 59);
        Fill(hours, fields[1], 0, 23);
        Fill(days, fields[2], 1, 31);
        Fill(months, fields[3], 1, 12);
        Fill(weekdays, fields[4], 0, 6);
        anyDay = fields[2] == "*";
        anyWeekday = fields[4] == "*";
    }

    /// <summary>The schedule as written.</summary>
    public string Text { get; }

    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">Not a schedule this class understands.</exception>
    public static Cron Parse(string text) => new(text.Trim());

    /// <summary>The first slot strictly after <paramref name="after"/> (UTC), at whole seconds (cron: whole minutes).</summary>
    public DateTimeOffset Next(DateTimeOffset after)
    {
        if (every is { } interval)
        {
            var ticks = after.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            var slot = ((ticks / interval.Ticks) + 1) * interval.Ticks;
            return DateTimeOffset.UnixEpoch.AddTicks(slot);
        }

        var t = new DateTimeOffset(after.UtcDateTime.Year, after.UtcDateTime.Month, after.UtcDateTime.Day, after.UtcDateTime.Hour, after.UtcDateTime.Minute, 0, TimeSpan.Zero)
            .AddMinutes(1);
        var limit = t.AddYears(5);
        while (t < limit)
        {
            if (!months[t.Month] || !DayMatches(t))
            {
                t = new DateTimeOffset(t.Year, t.Month, t.Day, 0, 0, 0, TimeSpan.Zero).AddDays(1);
                continue;
            }

            if (!hours[t.Hour])
            {
                t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
                continue;
            }

            if (!minutes[t.Minute])
            {
                t = t.AddMinutes(1);
                continue;
            }

            return t;
        }

        throw new InvalidOperationException($"'{Text}' has no slot in the next five years.");
    }

    private bool DayMatches(DateTimeOffset t)
    {
        var day = days[t.Day];
        var weekday = weekdays[(int)t.DayOfWeek];
        return anyDay && anyWeekday ? true : anyDay ? weekday : anyWeekday ? day : day || weekday;
    }

    private static void Fill(bool[] slots, string field, int min, int max)
    {
        foreach (var part in field.Split(','))
        {
            var (range, step) = part.Split('/') switch
            {
                [var r] => (r, 1),
                [var r, var s] when int.TryParse(s, out var n) && n > 0 => (r, n),
                _ => throw new FormatException($"'{part}' is not a cron field."),
            };
            int from, to;
            if (range == "*")
            {
                (from, to) = (min, max);
            }
            else if (range.Split('-') is [var a, var b] && int.TryParse(a, out from) && int.TryParse(b, out to))
            {
            }
            else if (int.TryParse(range, out from))
            {
                to = step > 1 ? max : from;
            }
            else
            {
                throw new FormatException($"'{part}' is not a cron field.");
            }

            if (from < min || to > max || from > to)
            {
                throw new FormatException($"'{part}' is outside {min}-{max}.");
            }

            for (var v = from; v <= to; v += step)
            {
                slots[v] = true;
            }
        }
    }
}
