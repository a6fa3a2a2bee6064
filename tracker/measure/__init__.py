"""Measuring: power sources, the sampler thread, meters and their timelines, utilisation, the machine and
this process's place in a job.
"""
