"""Analytics: grouped sums over the call store, and the reports built from them."""
