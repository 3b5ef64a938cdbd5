package flow

// ParseCron exposes the parsing of CronTrigger specs to the package's tests:
// the schedule it returns is the one River's periodic job follows.
var ParseCron = parseCron
