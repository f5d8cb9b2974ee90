# What a decision obliges the sidecar to do for the call: the `obligations` of the decision.
#
#   {"timeout_s": number, "max_request_bytes": int, "max_response_bytes": int,
#    "max_tokens": int | null, "mask": [{"name": "email", "pattern": "<Python re pattern>"}, ...]}
#
# From data.greenlang.sidecar:
#   defaults        {"timeout_s", "max_request_bytes", "max_response_bytes", "max_tokens", "mask"}
#   agents[<id>]    the same keys, each replacing the default (shallow, key by key), plus
#                   "mask_patterns" of the agent's own (name -> pattern), over the shared ones
#   mask_patterns   name -> pattern
# A limit missing from both is null (every limit is, and nothing is masked, without defaults).
# `mask` is the listed names, each once, sorted, with their patterns; a name without a pattern
# keeps "pattern": null. Nothing is checked here: the policy sidecar-obligations denies a call
# whose obligations cannot be enforced (fail closed: a misspelt mask name never runs an agent
# unmasked), and bundle builds refuse malformed data (bundles/sidecar_data.py).
#
# Runs on every decision, so it is written for regopy's cost (every rule, call and value built
# costs microseconds): no lib.agent (the agent's id is lib.input_agent.id), no merge for an
# agent without an entry, patterns passed through untouched (they go out exactly as the data
# has them, backslashes included, on both engines).
package greenlang.obligations

import data.greenlang.lib

config := data.greenlang.sidecar

# The agent's entry; undefined when the agent has none (or the input names no agent).
agent_config := config.agents[lib.input_agent.id]

# defaults overlaid key by key with the agent's entry (its mask_patterns ride along, unread).
settings := object.union(object.remove(config.defaults, agent_config), agent_config) if {
	is_object(agent_config)
} else := config.defaults

# name -> pattern: the shared patterns, overlaid with the agent's own. Always an object: regopy
# turns a call on a wrong type into an error value that fails the whole query once it is put
# into an array or object (OPA makes it undefined).
patterns := object.union(object.remove(config.mask_patterns, agent_config.mask_patterns), agent_config.mask_patterns) if {
	is_object(agent_config.mask_patterns)
	is_object(config.mask_patterns)
} else := config.mask_patterns if {
	is_object(config.mask_patterns)
} else := {}

# The names listed in settings.mask (none when it is not a list: iterating a string or a
# number yields nothing on both engines).
mask_names := {name | some name in settings.mask; is_string(name)}

# Sorted here: regopy iterates a set in insertion order, OPA in sorted order.
mask := [{"name": name, "pattern": object.get(patterns, name, null)} | some name in sort(mask_names)]

document := {
	"timeout_s": object.get(settings, "timeout_s", null),
	"max_request_bytes": object.get(settings, "max_request_bytes", null),
	"max_response_bytes": object.get(settings, "max_response_bytes", null),
	"max_tokens": max_tokens,
	"mask": mask,
} if {
	is_object(settings)
} else := {"timeout_s": null, "max_request_bytes": null, "max_response_bytes": null, "max_tokens": null, "mask": []}

max_tokens := object.get(settings, "max_tokens", null)
