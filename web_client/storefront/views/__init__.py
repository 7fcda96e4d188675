"""Thin views: read the form, call one service client, render or redirect."""
