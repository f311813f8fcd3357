"""Accounts you can trust: the second factor (django-otp), step-up for decisive actions, login and write
throttling, and the list of one's signed-in sessions. Imports models of the base app, never its views."""
