"""The data every layer shares: addresses today; observations and results as they move here."""
