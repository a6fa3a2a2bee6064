"""Cloud partitions: sets of regions that are separate clouds, with their own accounts, so a workload cannot be
moved between them by changing a region name, and whose use may be restricted by law (US government regions
need ITAR/FedRAMP eligibility; the China regions a separate, locally operated account).

A suggestion to move a run only ever stays within the run's partition. Sources (2025):

- AWS partitions ``aws``, ``aws-us-gov`` (``us-gov-*``), ``aws-cn`` (``cn-*``), ``aws-iso`` (``us-iso-*``),
  ``aws-iso-b`` (``us-isob-*``), ``aws-iso-e``/``aws-iso-f`` (``eu-isoe-*``, ``us-isof-*``) and the European
  Sovereign Cloud (``eusc-*``): AWS General Reference, "AWS partitions"
  (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html).
- Azure national clouds: Azure Government (``usgov*``, ``usdod*``, ``ussec*``, ``usnat*``) and Azure operated by
  21Vianet (``china*``): Microsoft Learn, "National clouds"
  (https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud).
- Google Cloud has one public partition (sovereign offerings use the same region names): none here.
"""

from __future__ import annotations

_PREFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "aws": (
        ("us-gov-", "aws-us-gov"),
        ("cn-", "aws-cn"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
    ),
    "azure": (
        ("usgov", "azure-us-government"),
        ("usdod", "azure-us-government"),
        ("ussec", "azure-us-government-secret"),
        ("usnat", "azure-us-government-top-secret"),
        ("china", "azure-china"),
    ),
}


def partition(provider: str, region: str) -> str:
    """The partition a provider's region belongs to (the provider's name for its public cloud otherwise)."""
    name = provider.lower()
    code = region.lower()
    for prefix, found in _PREFIXES.get(name, ()):
        if code.startswith(prefix):
            return found
    return name


def same_partition(provider: str, here: str, there: str) -> bool:
    """Whether a run in region ``here`` could move to ``there`` of the same provider by a configuration change."""
    return partition(provider, here) == partition(provider, there)
