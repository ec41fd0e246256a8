package components

// TimeLabel is timeLabel, for the tests.
var TimeLabel = timeLabel

// Initials is the initials a user's face shows, for the tests.
func Initials(name string) string { return UserItem{Name: name}.initials() }

// FaceClass is the class that colours a user's face, for the tests.
func FaceClass(name string) string { return UserItem{Name: name}.faceClass() }
