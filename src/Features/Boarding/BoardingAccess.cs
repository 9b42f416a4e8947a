using System.ComponentModel.DataAnnotations;
using Holdfast.Infrastructure;

namespace Holdfast.Features.Boarding;

/// <summary>
/// Who may check tickets in and read a show's manifest: an admin, the organizer owning the show's
/// venue or event, and that organizer's staff (<c>organizer_staff</c>). One definition for every
/// boarding slice that checks it in SQL; the parameters are <see cref="Catalogue.ShowOwnership.Bind"/>'s.
/// </summary>
internal static class BoardingAccess
{
    /// <summary>The SQL condition; it needs the show's venue joined as <c>v</c> and its event as <c>e</c>.</summary>
    public const string Condition = """
        (@is_admin or v.owner_app_user_id = @user_id or e.owner_app_user_id = @user_id
         or exists (select 1 from organizer_staff os
                    where os.staff_user_id = @user_id and os.organizer_user_id in (v.owner_app_user_id, e.owner_app_user_id)))
        """;
}

/// <summary>Settings under <c>Boarding</c>: when check-in is open, per kind of show.</summary>
public sealed class BoardingOptions
{
    /// <summary>Flights: check-in opens this many minutes before departure (default 1440, 24 h).</summary>
    [Range(1, 60 * 24 * 14)]
    public int FlightOpensMinutesBefore { get; set; } = 24 * 60;

    /// <summary>Flights: check-in closes this many minutes before departure (default 45).</summary>
    [Range(0, 60 * 24)]
    public int FlightClosesMinutesBefore { get; set; } = 45;

    /// <summary>Films and trips: doors open this many minutes before the start (default 60) and close at the show's end.</summary>
    [Range(0, 60 * 24)]
    public int DoorsOpenMinutesBefore { get; set; } = 60;

    /// <summary>
    /// The check-in window of a show of <paramref name="kind"/> (film, flight, trip) starting at
    /// <paramref name="startsAt"/> and ending at <paramref name="endsAt"/> (UTC): [opens, closes).
    /// </summary>
    public (DateTimeOffset Opens, DateTimeOffset Closes) Window(string kind, DateTimeOffset startsAt, DateTimeOffset endsAt) => kind == "flight"
        ? (startsAt.AddMinutes(-FlightOpensMinutesBefore), startsAt.AddMinutes(-FlightClosesMinutesBefore))
        : (startsAt.AddMinutes(-DoorsOpenMinutesBefore), endsAt);
}

/// <summary>Registers <see cref="BoardingOptions"/>.</summary>
public sealed class BoardingServices : IConfigureServices
{
    /// <inheritdoc />
    public void ConfigureServices(IServiceCollection services, IConfiguration configuration) =>
        services.AddSettings<BoardingOptions>("Boarding");
}
