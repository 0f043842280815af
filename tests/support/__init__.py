"""What several test files share: course folders and gradings, paths, the plain grading user,
course snapshots, the browser and the exchange's helpers. Test files import from here, never
from each other."""
