# Tests of the guest agent and network bootstrap (issue 7).
