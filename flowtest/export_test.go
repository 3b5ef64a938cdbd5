package flowtest

// AdvanceWithin is Advance with the caller's context, returning its error.
var AdvanceWithin = advance
