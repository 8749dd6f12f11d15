"""The runtime: one event loop that replay and live trading both drive."""
