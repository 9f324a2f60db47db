"""Ruihe SaaS (瑞和物业云)."""

from ruihe_saas.app import create_app

__all__ = ["create_app"]
