"""The shipped demo models (the zoo) and the script that trains them."""
