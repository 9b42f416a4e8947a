using System.Security.Claims;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Npgsql;

namespace Holdfast.Features.Catalogue;

/// <summary>
/// Who may manage a show: an admin, the organizer owning its venue, or the organizer owning its
/// event. One definition for every slice that checks it in SQL.
/// </summary>
internal static class ShowOwnership
{
    /// <summary>
    /// The SQL condition. It needs the show's venue joined as <c>v</c> and its event as <c>e</c>, and
    /// the parameters <see cref="Bind"/> adds.
    /// </summary>
    public const string Condition = "(@is_admin or v.owner_app_user_id = @user_id or e.owner_app_user_id = @user_id)";

    /// <summary>Adds <c>@user_id</c> (bigint) and <c>@is_admin</c> (boolean) for <paramref name="user"/>.</summary>
    public static void Bind(NpgsqlParameterCollection parameters, ClaimsPrincipal user)
    {
        parameters.With("user_id", user.UserId());
        parameters.With("is_admin", user.IsAdmin());
    }
}
