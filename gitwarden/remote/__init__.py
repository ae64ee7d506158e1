"""Several machines: the team's git remote as the coordination engine (presence, changed sets,
checkpoint trees and locks as refs under refs/gitwarden/ on that remote)."""
