"""Hardware probes, power/energy monitors, samplers, bandwidth probe, roofline."""
