"""Walk-forward studies across market regimes (``mmts study``) and the executors that run them."""
