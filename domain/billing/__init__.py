"""Billing: credit packs and plans bought through a payment provider (Stripe), turned into ledger grants."""
