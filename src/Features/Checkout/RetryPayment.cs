using Carter;
using Holdfast.Infrastructure.Auth;
using Holdfast.Infrastructure.Database;
using Holdfast.Infrastructure.Http;
using Holdfast.Infrastructure.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Npgsql;

namespace Holdfast.Features.Checkout;

/// <summary>
/// <c>POST /bookings/{id}/payments</c>: another attempt to pay a pending booking (after a decline,
/// or with another card), as a new PaymentIntent with a new idempotency key.
/// </summary>
public sealed class RetryPayment : ICarterModule
{
    /// <summary>Optional payment method to confirm with at once.</summary>
    public sealed record Request(string? PaymentMethod);

    /// <inheritdoc />
    public void AddRoutes(IEndpointRouteBuilder app) =>
        app.MapPost("/bookings/{bookingId:long}/payments", HandleAsync)
            .DeclaresProblem(StatusCodes.Status409Conflict, "The booking is not payable: already paid, cancelled, or past its payment deadline.")
            .RequireAuthorization()
            .WithMetadata(new IdempotentAttribute())
            .WithTags("Payments")
            .WithSummary("Try paying a pending booking again")
            .WithDescription("201 with the booking; 402 when declined again; 404 when not yours; 409 when it is no longer pending or its deadline passed.");

    internal static async Task<Results<Created<GetBooking.Response>, ProblemHttpResult>> HandleAsync(
        long bookingId, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] Request? request, HttpContext http, NpgsqlDataSource db,
        IPaymentGateway gateway, PaymentProcessing payments, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        var now = time.GetUtcNow();
        long attemptId, amount;
        string key, currency, status;
        DateTime deadline;
        await using (var connection = await db.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await using (var read = new NpgsqlCommand(
                "select status, payment_deadline, total_minor, currency from booking where booking_id = @booking_id and app_user_id = @user_id for update", connection))
            {
                read.With("booking_id", bookingId);
                read.With("user_id", userId);
                await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken))
                {
                    return Problems.NotFound("Booking");
                }

                (status, deadline, amount, currency) = (reader.Get<string>("status"), reader.Get<DateTime?>("payment_deadline") ?? DateTime.MinValue, reader.Get<long>("total_minor"), reader.Get<string>("currency"));
            }

            if (status != "pending_payment" || deadline <= now.UtcDateTime)
            {
                return Problems.Conflict("Not payable.", $"Booking {bookingId} is {(status == "pending_payment" ? "past its payment deadline" : status)}.",
                    new Dictionary<string, object?> { ["booking_status"] = status });
            }

            (attemptId, key) = await Checkout.CreateAttemptAsync(connection, bookingId, gateway.Provider, amount, currency, request?.PaymentMethod, now, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        var (problem, after) = await Checkout.RunAttemptAsync(db, gateway, payments, bookingId, attemptId, key, amount, currency, request?.PaymentMethod,
            new DateTimeOffset(deadline, TimeSpan.Zero), time, cancellationToken);
        await using (after)
        {
            return problem is not null
                ? problem
                : TypedResults.Created($"/bookings/{bookingId}", (await GetBooking.LoadAsync(after, bookingId, userId, cancellationToken))!);
        }
    }
}
