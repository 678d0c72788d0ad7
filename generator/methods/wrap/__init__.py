"""Methods built on other methods: they change a base method's inputs and combine its maps."""
