#!/bin/sh
# Called by the agent each time `flaky` exits, with the event as JSON on stdin and
# KHUTULUN_EVENT, KHUTULUN_SERVICE and KHUTULUN_WORKLOAD in its environment. Exit 0 means
# handled (anything else becomes a `handler-failed` event). This one keeps a tally.
tally="${TMPDIR:-/tmp}/khutulun-restart-policy-exits.log"
echo "$(date +%T) $KHUTULUN_SERVICE/$KHUTULUN_WORKLOAD $KHUTULUN_EVENT: $(cat)" >>"$tally"
