"""The vpipe test kit (distribution vpipe-testing): local brokers and stand-ins, the pytest
plugin (`kafka_bootstrap`, `fresh_kafka`), the ClaimX fake API (`vpipe_testing.claimx`) and
`vpipe demo` (`vpipe_testing.demo`).

Plugin authors install it for their own tests (`pip install vpipe-testing`); the runtime
wheels (vpipe-core and the domains) carry none of it.
"""
