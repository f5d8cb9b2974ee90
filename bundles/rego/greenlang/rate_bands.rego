# Rate bands: data.greenlang.rate_bands, what lets the sidecar reuse a rate verdict.
#
#   {"breakpoints": [n, ...]}  sorted values of input.rate.current at which the verdict of
#                              the selected policies can change; the verdict is the same for
#                              every count between two of them, the rest of the input equal
#   {"breakpoints": null}      some selected policy does not say (no reuse)
#
# Each policy declares its own `breakpoints` (generated for YAML rate_limiting policies, see
# bundles/rate_bands.py); this is their union over the policies the input selects.
# Every rule of this package is part of that document: helpers live in greenlang.engine.
package greenlang.rate_bands

import data.greenlang.engine

# A set, not sort(...): regopy sorts numbers as text; both engines give a set's numbers in
# numeric order.
breakpoints := {b |
	some points in engine.declared_breakpoints
	some b in points
} if {
	count(engine.declared_breakpoints) == count(engine.selected)
} else := null
