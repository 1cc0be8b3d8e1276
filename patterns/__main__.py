"""``python -m patterns`` runs the demo of the three primitives."""

from patterns.demo import main

main()
