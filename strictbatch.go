package chorus

// StrictOp is one strict-mode request's step in a group commit: placing its
// hold, or settling it. Many requests' steps are written in one database
// transaction, each with its own outcome (see StrictOutcome).
type StrictOp struct {
	// Hold, when set, places this hold: all or nothing, against the
	// wallet and the hard budgets as they stand after the batch's earlier
	// steps. Placing a hold whose rows exist already (a batch retried after
	// its commit's outcome was lost) changes nothing and succeeds.
	Hold *HoldSpec
	// Settle, when set, settles one request once per Key (see Charge),
	// releasing Charge.Hold, and stores Record in the same transaction
	// when the settlement applies.
	Settle *StrictSettlement
}

// StrictSettlement is one request's settlement in a group commit.
type StrictSettlement struct {
	Key    string // the settlement's idempotency key: the hold's ref
	Charge Charge
	// Record is the request's usage record (with its Key set), stored with
	// the charge so that a charged request always has its record; nil
	// stores none.
	Record *Usage
}

// StrictOutcome is what one step of a group commit did.
type StrictOutcome struct {
	// Err is the step's own refusal (EQUOTA for a hold the wallet or a
	// hard budget cannot cover); the other steps of its batch are not
	// affected by it.
	Err error
	// Applied is false for a settlement whose key was settled before.
	Applied bool
	// Charged is what the wallet paid (settlements).
	Charged int64
	// Balance is the wallet right after the step.
	Balance Balance
	// Alerts is how many budget alerts the settlement raised.
	Alerts int
}
