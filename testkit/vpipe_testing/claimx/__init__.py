"""Stand-ins for ClaimX tests, plugin authors' tests and the demo (not in the vpipe-claimx wheel).

`fake_api.FakeClaimxApi` is the fake ClaimX REST API (fixtures, generated projects, downloadable
links, scripted faults).
"""
