"""Live and paper trading: the backtest's runtime fed by an exchange's websocket and REST."""
