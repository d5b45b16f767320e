
`
in0Const*
dtype0*E
value<B:"0òÛ ¿äÁ8@…Å]?VÂ>f@X@æ«z@öA0?-C¹?­F@8pk?¯ec½fv1¿

opSeluin0*
T0