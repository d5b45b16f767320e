
`
in0Const*
dtype0*E
value<B:"0Â4?¥§¿à¾>@nì@d@#Äc@1B@åi&ÀÔvD@÷ÛI?‰i¿×@@
-
op	LeakyReluin0*
T0*
alpha%š™™>