"""Stripe: the payment gateway over the official `stripe` package, webhook verification, a fake
gateway for tests and the embedded default, and a builder of Stripe-shaped events."""
