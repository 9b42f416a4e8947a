using Holdfast.Features.Inventory;

namespace Holdfast.Features.Catalogue;

/// <summary>The demo venues' seat maps, laid out as the real things are.</summary>
public static class SeatMaps
{
    /// <summary>
    /// An A320 cabin of 180 seats: business rows 1–3 in 2-2 (A C | D F), economy rows 4–32 in
    /// 3-3 (A B C | D E F) with no row 13, as many airlines number them.
    /// </summary>
    public static IReadOnlyList<SeatSpec> A320()
    {
        var seats = new List<SeatSpec>();
        var y = 0;
        foreach (var row in Enumerable.Range(1, 32).Where(r => r != 13))
        {
            var business = row <= 3;
            var letters = business ? "ACDF" : "ABCDEF";
            for (var i = 0; i < letters.Length; i++)
            {
                var letter = letters[i];
                // Business seats are wider: A and C take columns 0 and 2, D and F 4 and 6; economy
                // uses columns 0–2 and 4–6 with the aisle at column 3.
                var x = business ? i * 2 : (i < 3 ? i : i + 1);
                seats.Add(new SeatSpec(business ? "business" : "economy", row.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    i + 1, $"{row}{letter}", business ? "business" : "economy", x, y, (row * 10) + i));
            }

            y++;
        }

        return seats;
    }

    /// <summary>
    /// A cinema hall of 12 rows (A–M without I) widening from 14 to 20 seats, centred, with a
    /// premium block of the middle ten seats in rows G–K. Best seats are near the centre of row H.
    /// </summary>
    public static IReadOnlyList<SeatSpec> CinemaHall()
    {
        string[] rows = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M"];
        int[] widths = [14, 14, 15, 16, 16, 17, 18, 18, 19, 19, 20, 20];
        var seats = new List<SeatSpec>();
        for (var r = 0; r < rows.Length; r++)
        {
            var offset = (20 - widths[r]) / 2;
            for (var n = 1; n <= widths[r]; n++)
            {
                var x = offset + n - 1;
                var fromCentre = Math.Abs((x * 2) - 19);
                var premium = rows[r] is "G" or "H" or "J" or "K" && fromCentre <= 9;
                var rank = (Math.Abs(r - 7) * 40) + fromCentre;
                seats.Add(new SeatSpec("stalls", rows[r], n, $"{rows[r]}{n}", premium ? "premium" : "standard", x, r, rank));
            }
        }

        return seats;
    }

    /// <summary>A 49-seat coach: rows 1–11 in 2-2 (A B | C D) and a back row 12 of five (A–E).</summary>
    public static IReadOnlyList<SeatSpec> Coach49()
    {
        var seats = new List<SeatSpec>();
        for (var row = 1; row <= 12; row++)
        {
            var letters = row == 12 ? "ABCDE" : "ABCD";
            for (var i = 0; i < letters.Length; i++)
            {
                var x = row == 12 ? i : (i < 2 ? i : i + 1);
                seats.Add(new SeatSpec("coach", row.ToString(System.Globalization.CultureInfo.InvariantCulture), i + 1, $"{row}{letters[i]}",
                    "standard", x, row - 1, (row * 10) + i));
            }
        }

        return seats;
    }
}
