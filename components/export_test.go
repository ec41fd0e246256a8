package components

// TimeLabel is timeLabel, for the tests.
var TimeLabel = timeLabel
