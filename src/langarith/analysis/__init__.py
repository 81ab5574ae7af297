"""What modules look like: the measures behind the analysis figures (`measures`) and the figures (`plots`)."""
