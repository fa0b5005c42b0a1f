"""Spend forecast: the next days' spend with 80% intervals, per project and in total
(docs/forecast.md)."""

from tokenomy.forecast.model import Band, Forecast, forecast
from tokenomy.forecast.spend import HORIZONS, spend_forecast

__all__ = ["HORIZONS", "Band", "Forecast", "forecast", "spend_forecast"]
