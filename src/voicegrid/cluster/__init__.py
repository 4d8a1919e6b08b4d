"""Many nodes on one machine, as real processes: the Kamailio edge, Redis, PostgreSQL and N
`voicegrid serve` nodes (`voicegrid cluster up`, the cluster tests, `bench/load.py --cluster`)."""
