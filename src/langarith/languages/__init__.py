"""Language facts: codes in any spelling, URIEL features and typological distance, related-language choice,
language identification, and the unlabeled text of each language (corpora)."""
