"""snapdeploy's tests; a regular package so `tests.strategies` wins over any `tests` a dependency installs."""
