"""Tests of the modules at the top of hub/ (app, config, database, health, i18n, text,
logging) and of the layers."""
