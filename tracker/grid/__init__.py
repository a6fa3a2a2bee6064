"""The grid: where the electricity comes from (location, zones, cloud regions) and how much carbon it carries
(intensity providers, the Electricity Maps client).
"""
