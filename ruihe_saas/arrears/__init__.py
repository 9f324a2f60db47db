"""Arrears (欠费): aging, chasing records (催缴), reminder notices, and the collection rate
(收缴率) that measures how well an estate collects."""
