package users

import "golang.org/x/crypto/bcrypt"

// PasswordComparer checks a password against a stored hash, as
// bcrypt.CompareHashAndPassword does: nil when they match.
type PasswordComparer func(hash, password []byte) error

// SetPasswordComparer makes Authenticate check passwords with c instead of
// bcrypt.CompareHashAndPassword, so that a test can count the comparisons
// (an unknown name must cost one, against the decoy, as a wrong password
// does). Call it before the store is in use; nil restores bcrypt.
func (s *Store) SetPasswordComparer(c PasswordComparer) { s.compare = c }

// comparePassword is how Authenticate checks every password, real or decoy.
func (s *Store) comparePassword(hash, password []byte) error {
	if s.compare != nil {
		return s.compare(hash, password)
	}
	return bcrypt.CompareHashAndPassword(hash, password)
}
