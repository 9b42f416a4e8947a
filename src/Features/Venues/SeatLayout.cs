using System.Text.RegularExpressions;
using Holdfast.Features.Inventory;
using Holdfast.Infrastructure.Http;

namespace Holdfast.Features.Venues;

/// <summary>
/// A compact seat-map layout, expanded into seats. Example (an A320 economy cabin):
/// <code>
/// { "sections": [ { "name": "economy", "category": "economy", "rows": "4-32", "skip_rows": ["13"],
///                   "seats": "ABCDEF", "aisles_after": ["C"] } ] }
/// </code>
/// and a hall whose rows widen, with a premium block:
/// <code>
/// { "sections": [ { "name": "stalls", "category": "standard",
///                   "rows": [ { "label": "A", "seats": "1-14" }, { "label": "B", "seats": "1-16" } ],
///                   "categories": [ { "category": "premium", "rows": "B", "seats": "5-12" } ] } ] }
/// </code>
/// Rows are a range (<c>"1-3"</c>, <c>"A-M"</c>) or a list with their own seats; seats are letters
/// (<c>"ACDF"</c>, label row+letter) or a number range (<c>"1-14"</c>, label row+number). Aisles add an
/// empty drawing column after the named seats. Narrower rows are centred. Sections stack front to
/// back; best-available rank is front to back, left to right. Best-available keeps a party to seats
/// of one section and row whose drawing columns follow each other, so an aisle separates a party.
/// A section may mark seats <c>accessible</c> (<c>{ "access": "wheelchair", "rows": "A", "seats": "1-2" }</c>,
/// or <c>companion</c>) and <c>blocked</c> (<c>{ "rows": "B", "seats": "7-8" }</c>: new shows start with
/// them blocked). Decision 0025.
/// </summary>
public static partial class SeatLayout
{
    /// <summary>Most seats one venue may have.</summary>
    public const int MaxSeats = 5000;

    /// <summary>The layout document.</summary>
    public sealed record Layout(IReadOnlyList<Section>? Sections);

    /// <summary>A block of rows sharing a category.</summary>
    public sealed record Section(
        string? Name, string? Category, System.Text.Json.JsonElement Rows, string? Seats, string[]? SkipRows, string[]? AislesAfter, IReadOnlyList<Override>? Categories,
        IReadOnlyList<AccessArea>? Accessible = null, IReadOnlyList<SeatArea>? Blocked = null);

    /// <summary>A row with its own seats (for rows of different widths).</summary>
    public sealed record Row(string? Label, string? Seats);

    /// <summary>Gives some seats of some rows another category.</summary>
    public sealed record Override(string? Category, string? Rows, string? Seats);

    /// <summary>Marks some seats of some rows as accessible.</summary>
    /// <param name="Access"><c>wheelchair</c> (a wheelchair space) or <c>companion</c> (a seat for a wheelchair user's companion).</param>
    /// <param name="Rows">Rows, as a range (<c>"A"</c>, <c>"1-3"</c>).</param>
    /// <param name="Seats">Seats of those rows, as letters or a number range.</param>
    public sealed record AccessArea(string? Access, string? Rows, string? Seats);

    /// <summary>Some seats of some rows, e.g. those blocked in the layout.</summary>
    /// <param name="Rows">Rows, as a range.</param>
    /// <param name="Seats">Seats of those rows, as letters or a number range.</param>
    public sealed record SeatArea(string? Rows, string? Seats);

    /// <summary>Expands <paramref name="layout"/>; errors go to <paramref name="validation"/> with paths like <c>layout.sections[0].rows</c>.</summary>
    public static List<SeatSpec> Expand(Layout? layout, Validation validation)
    {
        var seats = new List<SeatSpec>();
        if (layout?.Sections is not { Count: > 0 } sections)
        {
            validation.Add("layout.sections", "At least one section is required.");
            return seats;
        }

        var rows = new List<(string Section, string Category, string Label, List<string> Seats, HashSet<string> Aisles, List<CategoryArea> Overrides, List<CategoryArea> Access, List<CategoryArea> Blocked, string Path)>();
        for (var i = 0; i < sections.Count; i++)
        {
            var section = sections[i];
            var path = $"layout.sections[{i}]";
            if (section.Name is null || !Name().IsMatch(section.Name))
            {
                validation.Add($"{path}.name", "Required: 1 to 32 letters, digits, spaces, - or _.");
            }

            if (section.Category is null || !Category().IsMatch(section.Category))
            {
                validation.Add($"{path}.category", "Required: lower-case letters and _, e.g. economy.");
            }

            var overrides = Areas(section.Categories ?? [], $"{path}.categories", validation);
            var access = Areas([.. (section.Accessible ?? []).Select(a => new Override(a.Access, a.Rows, a.Seats))], $"{path}.accessible", validation);
            validation.Require(access.All(a => a.Category is "wheelchair" or "companion"), $"{path}.accessible", "access is wheelchair or companion.");
            var blocked = Areas([.. (section.Blocked ?? []).Select(b => new Override("blocked", b.Rows, b.Seats))], $"{path}.blocked", validation);
            foreach (var (label, seatText) in SectionRows(section, $"{path}.rows", validation))
            {
                var seatNames = Seats(seatText, $"{path}.seats", validation);
                rows.Add((section.Name ?? "", section.Category ?? "", label, seatNames, [.. section.AislesAfter ?? []], overrides, access, blocked, path));
            }
        }

        if (!validation.IsValid)
        {
            return seats;
        }

        var width = rows.Max(r => r.Seats.Count + r.Seats.Count(s => r.Aisles.Contains(s)));
        var labels = new HashSet<string>(StringComparer.Ordinal);
        for (var y = 0; y < rows.Count; y++)
        {
            var row = rows[y];
            var rowWidth = row.Seats.Count + row.Seats.Count(s => row.Aisles.Contains(s));
            var x = (width - rowWidth) / 2;
            for (var n = 0; n < row.Seats.Count; n++)
            {
                var seatName = row.Seats[n];
                var label = char.IsDigit(seatName[0]) && char.IsDigit(row.Label[^1]) ? $"{row.Label}-{seatName}" : row.Label + seatName;
                if (!labels.Add(label))
                {
                    validation.Add($"{row.Path}.rows", $"Seat {label} appears twice.");
                    return seats;
                }

                var category = row.Overrides.LastOrDefault(o => o.Rows.Contains(row.Label) && o.Seats.Contains(seatName))?.Category ?? row.Category;
                var access = row.Access.LastOrDefault(o => o.Rows.Contains(row.Label) && o.Seats.Contains(seatName))?.Category;
                var blocked = row.Blocked.Any(o => o.Rows.Contains(row.Label) && o.Seats.Contains(seatName));
                seats.Add(new SeatSpec(row.Section, row.Label, n + 1, label, category, x, y, (y * 1000) + x, access, blocked));
                x += row.Aisles.Contains(seatName) ? 2 : 1;
            }
        }

        validation.Require(seats.Count <= MaxSeats, "layout", $"At most {MaxSeats} seats.");
        return seats;
    }

    private static IEnumerable<(string Label, string? Seats)> SectionRows(Section section, string path, Validation validation)
    {
        if (section.Rows.ValueKind == System.Text.Json.JsonValueKind.String)
        {
            var skip = section.SkipRows?.ToHashSet(StringComparer.Ordinal) ?? [];
            return Range(section.Rows.GetString()!, path, validation).Where(r => !skip.Contains(r)).Select(r => (r, section.Seats));
        }

        if (section.Rows.ValueKind == System.Text.Json.JsonValueKind.Array)
        {
            var list = new List<(string, string?)>();
            var index = 0;
            foreach (var element in section.Rows.EnumerateArray())
            {
                var label = element.TryGetProperty("label", out var l) && l.ValueKind == System.Text.Json.JsonValueKind.String ? l.GetString() : null;
                var seats = element.TryGetProperty("seats", out var s) && s.ValueKind == System.Text.Json.JsonValueKind.String ? s.GetString() : section.Seats;
                if (label is null || !RowLabel().IsMatch(label))
                {
                    validation.Add($"{path}[{index}].label", "Required: 1 to 4 letters or digits.");
                }
                else
                {
                    list.Add((label, seats));
                }

                index++;
            }

            return list;
        }

        validation.Add(path, "A range such as \"1-32\" or \"A-M\", or a list of {label, seats}.");
        return [];
    }

    private static List<string> Range(string text, string path, Validation validation)
    {
        var parts = text.Split('-', 2, StringSplitOptions.TrimEntries);
        if (parts.Length == 1 && RowLabel().IsMatch(parts[0]))
        {
            return [parts[0]];
        }

        if (parts.Length == 2 && int.TryParse(parts[0], out var from) && int.TryParse(parts[1], out var to) && from >= 0 && to >= from && to - from < 500)
        {
            return Enumerable.Range(from, to - from + 1).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        }

        if (parts.Length == 2 && parts[0].Length == 1 && parts[1].Length == 1 && char.IsAsciiLetterUpper(parts[0][0]) && char.IsAsciiLetterUpper(parts[1][0]) && parts[1][0] >= parts[0][0])
        {
            return Enumerable.Range(parts[0][0], parts[1][0] - parts[0][0] + 1).Select(c => ((char)c).ToString()).ToList();
        }

        validation.Add(path, $"\"{text}\" is not a range such as \"1-32\" or \"A-M\".");
        return [];
    }

    private static List<string> Seats(string? text, string path, Validation validation)
    {
        if (text is not null && Letters().IsMatch(text) && text.Distinct().Count() == text.Length)
        {
            return text.Select(c => c.ToString()).ToList();
        }

        if (text is not null && text.Contains('-', StringComparison.Ordinal))
        {
            var numbers = Range(text, path, validation);
            if (numbers.All(n => char.IsDigit(n[0])))
            {
                return numbers;
            }
        }

        validation.Add(path, "Seats are distinct capital letters (\"ABCDEF\") or a number range (\"1-14\").");
        return [];
    }

    // A section's category overrides, each read and checked once (not once per seat it might cover).
    private sealed record CategoryArea(string Category, HashSet<string> Rows, HashSet<string> Seats);

    private static List<CategoryArea> Areas(IReadOnlyList<Override> overrides, string path, Validation validation)
    {
        var areas = new List<CategoryArea>();
        foreach (var o in overrides)
        {
            if (o.Category is null || !Category().IsMatch(o.Category) || o.Rows is null || o.Seats is null)
            {
                validation.Add(path, "Each needs category, rows and seats.");
                continue;
            }

            areas.Add(new CategoryArea(o.Category, [.. Range(o.Rows, path, validation)], [.. Seats(o.Seats, path, validation)]));
        }

        return areas;
    }

    [GeneratedRegex("^[A-Za-z0-9 _-]{1,32}$")]
    private static partial Regex Name();

    [GeneratedRegex("^[a-z][a-z_]{0,31}$")]
    private static partial Regex Category();

    [GeneratedRegex("^[A-Z0-9]{1,4}$")]
    private static partial Regex RowLabel();

    [GeneratedRegex("^[A-Z]{1,26}$")]
    private static partial Regex Letters();
}
