package rules

// All returns every rule, in the order `coapaudit rules` lists them: by
// threat, then from proven acts to exposures. The slice is new on every
// call; the rules are shared.
func All() []*Rule {
	return []*Rule{
		// T1 spoofing
		OSCOREUnverified,
		AlteredRequest,
		AlteredResponse,
		SpoofedResponse,
		SpoofedRequest,
		PublicationAltered,
		PublicationInjected,
		ObserveSequence,
		Unauthenticated,
		// T2 delaying
		ProxyDelay,
		LateForward,
		PublicationDelayed,
		// T3 withholding
		WithheldResponse,
		WithheldRequest,
		PublicationWithheld,
		// T4 flooding
		ResponseFlood,
		RequestFlood,
		NotificationFlood,
		UnsolicitedResponse,
		PublicationRepeated,
		// T5 eavesdropping
		PlaintextExposed,
		OSCOREOuterOption,
		PublicationInClear,
		DTLSHopByHop,
		PSKIdentityClear,
		// replay
		OSCOREReplay,
		RequestReplay,
		// forwarding's functional requirements
		CacheAllowed,
		ProxyURIPath,
		// malformed input
		MalformedMessage,
		// RFC 8323 signaling on reliable transports
		CSMNotFirst,
		MessageTooLarge,
		BERTNotAgreed,
		PingPong,
		AbortBadCSM,
		ReleaseRedirect,
		// usage: keys that do not match the traffic
		KeysMismatch,
		DTLSKeysMismatch,
	}
}

// Lookup returns the rule with the given ID, or nil.
func Lookup(id string) *Rule {
	for _, r := range All() {
		if r.ID == id {
			return r
		}
	}
	return nil
}
