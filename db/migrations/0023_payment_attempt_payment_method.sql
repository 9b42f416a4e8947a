-- The payment method an attempt's PaymentIntent was created with. Reconciliation replays the
-- create of an attempt whose PaymentIntent id was never recorded (the node died between the
-- provider's answer and the record) with the same idempotency key; Stripe returns the original
-- PaymentIntent only when the parameters are the same, so they must be stored with the key.
alter table payment_attempt add column payment_method text;
